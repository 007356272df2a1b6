"""Apple Mail's store (``~/Library/Mail/V*``): ``applemail:[DIR]`` and its discoverer."""
