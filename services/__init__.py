"""What the feature routers lean on but is not a dialogue step: the job tracker, the file store, the style gallery."""
