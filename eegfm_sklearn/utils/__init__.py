"""Services shared by the estimators: warnings, seeding, progress bars, the data folder, the cache."""
