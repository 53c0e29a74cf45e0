"""Dashboard-side helpers: cached loaders over the artifact store (the only Streamlit-aware code
besides the pages)."""
