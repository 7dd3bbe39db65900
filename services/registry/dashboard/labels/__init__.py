"""Labels of the codes the dashboard shows, in the page's language: one module per catalog."""
