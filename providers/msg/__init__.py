"""Outlook ``.msg`` files (saved or dragged out of Outlook): ``msg:DIR`` and its discoverer."""
