//! Routes of albums, share links and account settings.

use reqwest::Method;

use super::{Client, ClientError, segment};
use crate::api::{
    AccountSettings, Album, AlbumDetail, AlbumImages, AlbumList, AlbumPatch, CreateAlbum,
    CreateShare, SettingsPatch, Share, ShareList,
};

impl Client {
    pub async fn update_settings(
        &self,
        patch: &SettingsPatch,
    ) -> Result<AccountSettings, ClientError> {
        self.api(Method::PATCH, "/v1/me/settings", &[], Some(patch), None)
            .await
    }

    /// Creates a share link. (Retried like every call; should an answer be lost after the link
    /// was made, the retry makes a second one: `shares` lists both.)
    pub async fn create_share(&self, share: &CreateShare) -> Result<Share, ClientError> {
        self.api(Method::POST, "/v1/shares", &[], Some(share), None)
            .await
    }

    pub async fn shares(&self) -> Result<ShareList, ClientError> {
        self.api(Method::GET, "/v1/shares", &[], None::<&()>, None)
            .await
    }

    /// Revokes the link with public id `id`.
    pub async fn revoke_share(&self, id: &str) -> Result<Share, ClientError> {
        let path = format!("/v1/shares/{}", segment(id));
        self.api(Method::DELETE, &path, &[], None::<&()>, None)
            .await
    }

    pub async fn albums(&self) -> Result<AlbumList, ClientError> {
        self.api(Method::GET, "/v1/albums", &[], None::<&()>, None)
            .await
    }

    /// The album named `name`, created when there is none (another client creating it at the
    /// same moment is fine: its album is the one returned).
    pub async fn ensure_album(&self, name: &str) -> Result<Album, ClientError> {
        let named = |list: AlbumList| list.albums.into_iter().find(|a| a.name == name);
        if let Some(album) = named(self.albums().await?) {
            return Ok(album);
        }
        let create = CreateAlbum {
            name: name.to_string(),
            description: String::new(),
        };
        match self.create_album(&create).await {
            Err(e) if e.status() == Some(409) => named(self.albums().await?).ok_or(e),
            other => other,
        }
    }

    pub async fn create_album(&self, album: &CreateAlbum) -> Result<Album, ClientError> {
        self.api(Method::POST, "/v1/albums", &[], Some(album), None)
            .await
    }

    pub async fn album(&self, id: &str) -> Result<AlbumDetail, ClientError> {
        let path = format!("/v1/albums/{}", segment(id));
        self.api(Method::GET, &path, &[], None::<&()>, None).await
    }

    pub async fn patch_album(&self, id: &str, patch: &AlbumPatch) -> Result<Album, ClientError> {
        let path = format!("/v1/albums/{}", segment(id));
        self.api(Method::PATCH, &path, &[], Some(patch), None).await
    }

    pub async fn delete_album(&self, id: &str) -> Result<(), ClientError> {
        self.api_empty(Method::DELETE, &format!("/v1/albums/{}", segment(id)))
            .await
    }

    /// `edit` is `add`, `remove` or `order` (see the API).
    pub async fn edit_album(
        &self,
        id: &str,
        edit: &str,
        image_ids: &[String],
    ) -> Result<Album, ClientError> {
        let path = format!("/v1/albums/{}/{edit}", segment(id));
        let body = AlbumImages {
            image_ids: image_ids.to_vec(),
        };
        self.api(Method::POST, &path, &[], Some(&body), None).await
    }
}
