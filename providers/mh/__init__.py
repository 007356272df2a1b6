"""MH mail folders (nmh, Claws Mail, Sylpheed): ``mh:DIR`` and the discoverer of ``~/Mail``."""
