"""Dashboard state and logic as param.Parameterized classes; nothing here imports Panel."""
