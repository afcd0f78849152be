"""canserve: will this LLM deployment serve my traffic?"""
