"""audiollm.serve"""
