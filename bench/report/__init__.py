"""Reports: stored records -> tables (pandas) -> md/csv/... files and seaborn plots. Never trains."""
