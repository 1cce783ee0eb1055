"""The offline demo's material: a sample service with a real bug, real tests and real logs."""
