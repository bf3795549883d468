"""What users run on their own images: colorize, predict (files, folders, videos), serve (web page)."""
