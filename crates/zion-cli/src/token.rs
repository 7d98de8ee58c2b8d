//! `zion token create|list|revoke`.

use crate::cli::{Global, TokenCmd};
use crate::exit::Failure;

pub async fn run(_g: &Global, _cmd: TokenCmd) -> Result<(), Failure> {
    Err(Failure::usage("token commands are being built".to_string()))
}
