"""alviz: an active-learning workbench. A plain library; the Streamlit app is a thin view over it."""

__version__ = "0.1.0"
