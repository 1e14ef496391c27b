"""What a page says: content types and charsets, links and text (selectolax), Markdown."""
