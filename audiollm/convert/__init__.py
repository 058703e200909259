"""audiollm.convert"""
