__version__ = "0.1.0"
# What model.json says converted it: TF.js reads nothing from this string, users and tools do.
CONVERTED_BY = f"tfjsconv v{__version__}"
