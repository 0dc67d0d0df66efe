//! Actuator against kubesim.
