"""audiollm.train"""
