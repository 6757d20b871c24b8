"""One blueprint per openEO API area; views are thin and call into the services."""
