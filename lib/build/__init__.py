"""Build helpers: run at synth time on the build machine, never deployed (packaging the functions,
starting CloudFormation validation early)."""
