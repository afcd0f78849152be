"""HTTP API and web page (optional extra: pip install 'canserve[web]')."""
