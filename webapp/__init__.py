"""Deskbook web app: pages and a JSON API for agents, QA analysts and managers."""
