"""The cash-application engine: who paid, what it pays, how to allocate it, and when to ask a human."""
