// Placeholder: replaced by the live-update script.
