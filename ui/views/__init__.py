"""Thin pn.viewable.Viewer classes that lay out and bind the state classes in ui.state."""
