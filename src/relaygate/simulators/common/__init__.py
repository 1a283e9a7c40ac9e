"""Pieces shared by the simulators: PNG writer, multipart parsing, request recording, lifecycle."""
