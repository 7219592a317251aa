//! Glue databases as Iceberg namespaces: the namespace half of [`GlueCatalog`]'s `Catalog`
//! implementation (a database's location and description are the namespace's `location` and
//! `comment` properties, the rest its parameters).

use std::collections::HashMap;

use aws_sdk_glue::operation::create_database::CreateDatabaseError;
use aws_sdk_glue::operation::get_database::GetDatabaseError;
use aws_sdk_glue::types::DatabaseInput;
use iceberg::{Error, ErrorKind, Namespace, NamespaceIdent, Result};

use super::glue::{GlueCatalog, sdk_error};
use super::glue_entry::{COMMENT_PROP, LOCATION_PROP};

impl GlueCatalog {
    pub(super) async fn glue_databases(&self, parent: Option<&NamespaceIdent>) -> Result<Vec<NamespaceIdent>> {
        if parent.is_some() {
            return Ok(Vec::new()); // Glue databases do not nest
        }
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .get_databases()
                .set_catalog_id(self.catalog_id.clone())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_error("GetDatabases", e))?;
            out.extend(page.database_list().iter().map(|d| NamespaceIdent::new(d.name().to_string())));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    pub(super) async fn glue_create_database(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        let db = Self::database_name(namespace)?;
        let location = properties.get(LOCATION_PROP).cloned().unwrap_or_else(|| format!("{}/{db}.db", self.warehouse));
        let mut input = DatabaseInput::builder().name(db).location_uri(&location);
        for (k, v) in &properties {
            match k.as_str() {
                LOCATION_PROP => {}
                COMMENT_PROP => input = input.description(v),
                _ => input = input.parameters(k, v),
            }
        }
        let input =
            input.build().map_err(|e| Error::new(ErrorKind::DataInvalid, format!("Glue database {db}: {e}")))?;
        self.client
            .create_database()
            .set_catalog_id(self.catalog_id.clone())
            .database_input(input)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(CreateDatabaseError::AlreadyExistsException(_)) => {
                    Error::new(ErrorKind::NamespaceAlreadyExists, format!("Glue database {db} already exists"))
                }
                _ => sdk_error("CreateDatabase", e),
            })?;
        let mut props = properties;
        props.insert(LOCATION_PROP.to_string(), location);
        Ok(Namespace::with_properties(namespace.clone(), props))
    }

    pub(super) async fn glue_get_database(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        let db = Self::database_name(namespace)?;
        let out =
            self.client.get_database().set_catalog_id(self.catalog_id.clone()).name(db).send().await.map_err(|e| {
                match e.as_service_error() {
                    Some(GetDatabaseError::EntityNotFoundException(_)) => {
                        Error::new(ErrorKind::NamespaceNotFound, format!("Glue has no database {db}"))
                    }
                    _ => sdk_error("GetDatabase", e),
                }
            })?;
        let database = out.database().ok_or_else(|| {
            Error::new(ErrorKind::Unexpected, format!("Glue GetDatabase {db}: no database in the answer"))
        })?;
        let mut props: HashMap<String, String> = database.parameters().cloned().unwrap_or_default();
        if let Some(l) = database.location_uri() {
            props.insert(LOCATION_PROP.to_string(), l.to_string());
        }
        if let Some(d) = database.description() {
            props.insert(COMMENT_PROP.to_string(), d.to_string());
        }
        Ok(Namespace::with_properties(namespace.clone(), props))
    }

    pub(super) async fn glue_update_database(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        let db = Self::database_name(namespace)?;
        let mut input = DatabaseInput::builder().name(db);
        for (k, v) in &properties {
            match k.as_str() {
                LOCATION_PROP => input = input.location_uri(v),
                COMMENT_PROP => input = input.description(v),
                _ => input = input.parameters(k, v),
            }
        }
        let input =
            input.build().map_err(|e| Error::new(ErrorKind::DataInvalid, format!("Glue database {db}: {e}")))?;
        self.client
            .update_database()
            .set_catalog_id(self.catalog_id.clone())
            .name(db)
            .database_input(input)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateDatabase", e))?;
        Ok(())
    }
}
