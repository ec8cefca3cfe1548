// Package blocks turns documents into REALM's retrieval units: sentences
// (rule-based splitting) packed greedily into blocks of at most 288
// wordpieces counting "[CLS] title [SEP] body [SEP]", with stable ids in
// corpus order, and stores them in memory or in a Parquet file that is read
// row group by row group.
package blocks
