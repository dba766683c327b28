//! imgcloud's shared core.
//!
//! Always available (the server uses only these): [`api`] wire types, [`s3`] SigV4 signing and
//! presigning, [`paths`] platform directories, [`config`] the client configuration file format
//! and [`credentials`] the 0600 credentials-file format.
//!
//! Behind the `probe` feature (part of `client`): [`probe`], an image's type, size, EXIF and
//! completeness from its headers, without decoding a pixel.
//!
//! Behind the `catalog` feature (part of `client`): the local [`catalog`] of one account's images.
//!
//! Behind the default `client` feature: the API [`client`] with retries, the [`upload`]
//! pipeline, [`links`] formatting, [`secrets`] (keyring → file → env), and [`photo_info`] (camera and date
//! from an original's first bytes) with the [`preview_cache`] of thumbnails.

pub mod api;
pub mod config;
pub mod credentials;
pub mod daemon_api;
pub mod daemon_config;
pub mod human;
pub mod paths;
pub mod picgo_request;
pub mod s3;
pub mod share_terms;

#[cfg(feature = "client")]
pub mod backup;
#[cfg(feature = "catalog")]
pub mod catalog;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
pub mod daemon_client;
#[cfg(feature = "client")]
pub mod links;
#[cfg(feature = "client")]
pub mod notify_send;
#[cfg(feature = "opener")]
pub mod opener;
#[cfg(feature = "client")]
pub mod photo_info;
#[cfg(feature = "client")]
pub mod preview_cache;
#[cfg(feature = "probe")]
pub mod probe;
#[cfg(feature = "client")]
pub mod secrets;
#[cfg(feature = "client")]
pub mod upload;
