"""Reports: stored records -> tables (pandas) -> md/csv/latex/html/json and seaborn plots.

Never trains.
"""
