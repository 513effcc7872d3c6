"""Development tools: the demo (the only module outside tests that imports worker.wix.fake)."""
