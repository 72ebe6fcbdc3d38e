"""Deskbook indexer: reads SOPs and past tickets, chunks and embeds them into the knowledge base."""
