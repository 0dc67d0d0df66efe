//! Integration tests of the deployment files: the static checks over the repository (and that
//! they catch broken copies), `make images` with a fake docker, the real kubectl against
//! kubesim, the `inferno` pod's containers run as local processes, and the real images and
//! containers (Docker).

mod common;
mod containers;
mod kubectl;
mod make;
mod monitoring;
mod pod;
mod repository;
