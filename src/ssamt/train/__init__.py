"""ssamt.train"""
