//! API keys: stored as their SHA-256 only.

use super::{Result, Store};

impl Store {
    /// Stores an API key's hash for a storefront.
    pub async fn insert_api_key(
        &self,
        key_id: &str,
        key_hash: &[u8],
        storefront: &str,
    ) -> Result<()> {
        sqlx::query!(
            "INSERT INTO api_keys (key_id, key_hash, storefront_id) VALUES ($1, $2, $3)",
            key_id,
            key_hash,
            storefront,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The (key id, storefront) of a live API key, by the key's hash.
    pub async fn api_key(&self, key_hash: &[u8]) -> Result<Option<(String, String)>> {
        let row = sqlx::query!(
            "SELECT key_id, storefront_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            key_hash,
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.key_id, r.storefront_id)))
    }
}
