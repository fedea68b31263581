"""Landing zone: find extract files, read them, split accepted from rejected rows."""
