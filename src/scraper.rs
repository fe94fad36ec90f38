//! Scrape loop (in progress).
