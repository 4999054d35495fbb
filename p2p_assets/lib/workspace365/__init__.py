"""Client for the Workspace 365 Business App API: field conversion and record creation."""
