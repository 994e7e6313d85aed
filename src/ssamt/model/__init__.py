"""ssamt.model"""
