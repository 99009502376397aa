"""Reading bug-report mails: raw messages, mboxes, saved archive pages (see ``read.py``),
quoting and line wrapping (``text.py``) and the patch a mail carries (``patch.py``)."""
