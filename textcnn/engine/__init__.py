"""The modality-neutral engine: training loop, bundles, prediction and evaluation; it knows a
modality only by the name and processor a bundle records."""
