"""ssamt.retrieval"""
