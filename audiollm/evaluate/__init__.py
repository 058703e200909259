"""audiollm.evaluate"""
