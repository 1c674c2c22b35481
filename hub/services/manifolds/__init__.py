"""Oxygen cylinder manifolds: the manifolds watched (:mod:`.register`), reading changeovers from the
bank pressures (:mod:`.detection`, pure) and following them in the telemetry store with the reserve
alerts (:mod:`.tracking`)."""
