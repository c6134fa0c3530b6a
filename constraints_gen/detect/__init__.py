"""Detection: read this machine (platform, GPUs); :func:`constraints_gen.detect.machine.detect`
combines the probes, one module each. Empty: importing the readout model loads no probe."""
