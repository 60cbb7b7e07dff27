"""The agent core: one turn of conversation, shared by every command."""
