"""audiollm.data"""
