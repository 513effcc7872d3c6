"""Development tools: the demo and the chaos run (the only modules outside tests that import
worker.wix.fake), and the program builder they and the tests write their program documents with."""
