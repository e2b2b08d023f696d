"""Exports to peer tools: an accelerator as their input documents."""
